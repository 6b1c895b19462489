// Command podapp is the local cluster's real-node app, pause process and
// sleep (package podapp); it is built into the image podapp.Image.
package main

import (
	"os"

	"github.com/zerodrop/zerodrop/internal/localcluster/podapp"
)

func main() {
	os.Exit(podapp.Main(os.Args[1:], os.Stdout, os.Stderr))
}
