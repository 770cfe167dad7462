package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// RefNameAnnotation is the OCI image layout's annotation naming an image
// in the layout's index; [WriteLayout] sets it to the tag.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WriteTarball writes img to the file at path as a docker-compatible
// tarball (the format of `docker save`) whose manifest.json names it tag,
// so that `docker load` tags it. The file is replaced if it exists.
//
// The format has no place for the OCI manifest: the config and the layer
// are kept byte for byte (the same image ID), but the manifest's
// annotations are only in the layout form, and a registry or engine that
// reads the tarball makes a Docker manifest of its own.
func WriteTarball(path string, tag name.Tag, img v1.Image) error {
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

// WriteLayout writes img as the only image of the OCI image layout in dir,
// its entry in the layout's index annotated with [RefNameAnnotation] (tag's
// version part) and its platform. dir is created if missing; if it holds a
// layout already, that layout's index and blobs are replaced; any other
// non-empty directory is refused.
func WriteLayout(dir string, tag name.Tag, img v1.Image) error {
	if err := clearLayout(dir); err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{
			Annotations: map[string]string{RefNameAnnotation: tag.TagStr()},
			Platform:    cf.Platform(),
		},
	})
	if _, err := layout.Write(dir, idx); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

// clearLayout removes the parts of the OCI layout in dir (oci-layout,
// index.json, blobs/), so that no image of an earlier build stays in it, and
// refuses a non-empty dir that is not a layout.
func clearLayout(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("image: %s is neither empty nor an OCI image layout", dir)
	}
	for _, p := range []string{"blobs", "index.json", "oci-layout"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	}
	return nil
}
