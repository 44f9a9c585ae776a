//go:build tools

// Package tools pins the OCI registry (CNCF distribution) that tests and the dev setup run, and
// crane, which pushes test images to it; see ../kubernetes/tools.go.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
	_ "github.com/google/go-containerregistry/cmd/crane"
)
