package data

import (
	"bytes"
	"fmt"
	"testing"
)

func TestLoadMNIST(t *testing.T) {
	p, err := LoadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "embedded MNIST" {
		t.Errorf("Source = %q, want %q", p.Source, "embedded MNIST")
	}
	for _, c := range []struct {
		set   *Set
		name  string
		n     int
		first uint8
		// Number of images of each digit in the set.
		counts [10]int
	}{
		{p.Train, "train", 60000, 5, [10]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{p.Test, "test", 10000, 7, [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		s := c.set
		if s.Name != c.name || s.N != c.n || s.Rows != 28 || s.Cols != 28 || s.Classes != 10 {
			t.Errorf("%s set: Name %q, N %d, %dx%d, Classes %d; want %q, %d, 28x28, 10",
				c.name, s.Name, s.N, s.Rows, s.Cols, s.Classes, c.name, c.n)
		}
		if len(s.Pixels) != c.n*28*28 || len(s.Labels) != c.n {
			t.Fatalf("%s set: %d pixels and %d labels, want %d and %d", c.name, len(s.Pixels), len(s.Labels), c.n*28*28, c.n)
		}
		if s.Labels[0] != c.first {
			t.Errorf("%s set: first label %d, want %d", c.name, s.Labels[0], c.first)
		}
		var counts [10]int
		for i, l := range s.Labels {
			if int(l) >= s.Classes {
				t.Fatalf("%s set: label %d at index %d out of range", c.name, l, i)
			}
			counts[l]++
		}
		if counts != c.counts {
			t.Errorf("%s set: digit counts %v, want %v", c.name, counts, c.counts)
		}
		lo, hi := s.Pixels[0], s.Pixels[0]
		for _, v := range s.Pixels {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || hi != 255 {
			t.Errorf("%s set: pixels span [%v, %v], want [0, 255]", c.name, lo, hi)
		}
	}
}

func TestMNISTChecksums(t *testing.T) {
	for _, base := range standardNames {
		name := base + ".gz"
		b, err := mnistFS.ReadFile("mnist/" + name)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := mnistSHA256[name]
		if !ok {
			t.Fatalf("no SHA-256 sum recorded for %s", name)
		}
		if err := checkSHA256(name, b, want); err != nil {
			t.Errorf("embedded file: %v", err)
		}
		altered := bytes.Clone(b)
		altered[len(altered)/2] ^= 1
		checkError(t, checkSHA256(name, altered, want), name, "SHA-256 mismatch", "want "+want)
		checkError(t, checkSHA256(name, b[:len(b)-1], want), name, "SHA-256 mismatch")
	}
}

func BenchmarkLoadMNIST(b *testing.B) {
	for b.Loop() {
		if _, err := LoadMNIST(); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleLoadMNIST() {
	p, err := LoadMNIST()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []*Set{p.Train, p.Test} {
		fmt.Printf("%s: %d images of %dx%d, %d classes\n", s.Name, s.N, s.Rows, s.Cols, s.Classes)
	}
	// Output:
	// train: 60000 images of 28x28, 10 classes
	// test: 10000 images of 28x28, 10 classes
}
