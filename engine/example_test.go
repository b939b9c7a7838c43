package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

// Training cDNI, the CLI's default network, for two epochs of the first
// 8192 images of the embedded MNIST: in the synchronous loop, then with its
// layers on two asynchronous workers, each of which updates its layers as
// soon as their synthesizers predict, without waiting for the layers above.
func ExampleTrainer() {
	pair, err := data.LoadMNIST()
	if err != nil {
		log.Fatal(err)
	}
	train, test := pair.Train.Head(8192), pair.Test.Head(1000)
	for _, exec := range []string{engine.ExecSync, engine.ExecAsync} {
		cfg := engine.DefaultConfig(train.Features(), train.Classes)
		cfg.Epochs, cfg.Exec, cfg.Workers, cfg.Threads = 2, exec, 2, 1
		net, err := engine.NewNetwork(cfg)
		if err != nil {
			log.Fatal(err)
		}
		tr, err := engine.NewTrainer(net, train)
		if err != nil {
			log.Fatal(err)
		}
		for !tr.Done() {
			if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
				log.Fatal(err)
			}
		}
		ev, err := tr.Evaluate(test)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d steps, test error under 30%%: %v\n", net.Execution(), tr.Step(), ev.Error < 30)
		if err := net.Close(); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// sync: 64 steps, test error under 30%: true
	// async, 2 workers (layers 0; 1–2): 64 steps, test error under 30%: true
}

// Comparing each synthesizer's gradient with the true gradient of the
// loss after an epoch of cDNI: the top hidden layer's synthesizer, which
// learns from the true gradient itself, points the same way as it.
func ExampleTrainer_SGAgreement() {
	pair, err := data.LoadMNIST()
	if err != nil {
		log.Fatal(err)
	}
	train, test := pair.Train.Head(8192), pair.Test.Head(1000)
	cfg := engine.DefaultConfig(train.Features(), train.Classes)
	cfg.Epochs = 1
	net, err := engine.NewNetwork(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer net.Close()
	tr, err := engine.NewTrainer(net, train)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
		log.Fatal(err)
	}
	a, err := tr.SGAgreement(test)
	if err != nil {
		log.Fatal(err)
	}
	top := a[len(a)-1]
	fmt.Printf("%d hidden layers compared; the top one's cosine above 0.3: %v\n", len(a), top.Cosine > 0.3)
	// Output:
	// 2 hidden layers compared; the top one's cosine above 0.3: true
}

// Saving a run after its first epoch and going on from the checkpoint: the
// network comes from the checkpoint (Checkpoint.Network, which loads the
// saved weights and optimizer state), with more epochs, and Resume sets the
// trainer's step count. A fresh network of the same config is refused.
func ExampleTrainer_Resume() {
	pair, err := data.LoadMNIST()
	if err != nil {
		log.Fatal(err)
	}
	train := pair.Train.Head(4096)
	dir, err := os.MkdirTemp("", "dnitrain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "run.safetensors")

	cfg := engine.DefaultConfig(train.Features(), train.Classes)
	cfg.Epochs, cfg.Threads = 1, 1
	net, err := engine.NewNetwork(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer net.Close()
	tr, err := engine.NewTrainer(net, train)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tr.RunEpoch(context.Background(), nil); err != nil {
		log.Fatal(err)
	}
	if err := tr.Save(path); err != nil {
		log.Fatal(err)
	}

	ck, err := engine.LoadCheckpoint(path)
	if err != nil {
		log.Fatal(err)
	}
	ck.Config.Epochs = 2 // train on
	fresh, err := engine.NewNetwork(ck.Config)
	if err != nil {
		log.Fatal(err)
	}
	defer fresh.Close()
	other, err := engine.NewTrainer(fresh, train)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("a fresh network resumes:", other.Resume(ck) == nil)

	saved, err := ck.Network()
	if err != nil {
		log.Fatal(err)
	}
	defer saved.Close()
	resumed, err := engine.NewTrainer(saved, train)
	if err != nil {
		log.Fatal(err)
	}
	if err := resumed.Resume(ck); err != nil {
		log.Fatal(err)
	}
	fmt.Println("resumed at step", resumed.Step(), "of", 2*resumed.StepsPerEpoch())
	if _, err := resumed.RunEpoch(context.Background(), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", resumed.Done(), "at step", resumed.Step())
	// Output:
	// a fresh network resumes: false
	// resumed at step 16 of 32
	// done: true at step 32
}
