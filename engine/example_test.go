package engine_test

import (
	"context"
	"fmt"
	"log"

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
