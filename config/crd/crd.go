// Package crd embeds zerodrop's generated CustomResourceDefinitions (the
// YAML files beside this file, written by `make generate`), so that the
// demo and tools can install them without a checkout.
package crd

import "embed"

// Files holds every generated CRD manifest, one per file.
//
//go:embed zerodrop.dev_*.yaml
var Files embed.FS
