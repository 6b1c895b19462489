package localcluster_test

import (
	"context"
	"fmt"

	"github.com/zerodrop/zerodrop/internal/localcluster"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// Example shows how a demo or an e2e test drives a local cluster: start it,
// follow pod lifecycle events, and read per-pod request counts and
// termination timings.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // cancelling ctx also stops the cluster

	c, err := localcluster.Start(ctx, localcluster.Options{
		Nodes: 3,
		// Init containers of this image run on the host with this
		// directory as their file system (e.g. one holding a copy of
		// os.Executable() named "zerodrop").
		ImageRoots: map[string]string{"ghcr.io/zerodrop/zerodrop:dev": "/tmp/zerodrop-image"},
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Stop() }()

	fmt.Println("KUBECONFIG=" + c.KubeconfigPath()) // or c.RESTConfig(), c.Client()

	events, unsubscribe := c.Subscribe()
	defer unsubscribe()
	go func() {
		for e := range events {
			if e.Type == vnode.EventSIGTERM {
				fmt.Println(e.Namespace, e.Name, "got SIGTERM at", e.Time)
			}
		}
	}()

	// ... create Deployments, send load to pod IPs, roll out ...

	for _, r := range c.Pods() {
		fmt.Println(r.Name, r.IP, "served", r.Requests, "cut", r.CutRequests,
			"deletion->SIGTERM", r.DeletionToSIGTERM(), "deletion->exit", r.DeletionToExit())
	}
}
