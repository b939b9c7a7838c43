package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/dnitrain/dnitrain/safetensors"
)

func Example() {
	tensors := []safetensors.Tensor{
		safetensors.F32("dense.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		safetensors.F32("dense.bias", []int{3}, []float32{0.5, 0, -0.5}),
		safetensors.I64("step", []int{}, []int64{1000}),
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, tensors, map[string]string{"epoch": "7"}); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Decode(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	w, err := f.Tensor("dense.weight")
	if err != nil {
		log.Fatal(err)
	}
	values, err := w.Float32s()
	if err != nil {
		log.Fatal(err)
	}
	step, err := f.Tensors["step"].Int64s()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.DType, w.Shape, values)
	fmt.Println("step", step[0], "epoch", f.Metadata["epoch"], "checksummed", f.Checksummed())
	// Output:
	// F32 [2 3] [1 2 3 4 5 6]
	// step 1000 epoch 7 checksummed true
}
