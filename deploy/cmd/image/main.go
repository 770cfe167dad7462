// Command image builds one OCI image per program from static Go binaries,
// without a container engine (package deploy/image), and writes each as a
// docker-compatible tarball and as an OCI image layout. `make image` runs it
// for the repository's four programs; --help says how.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agentweave/agentweave-go/deploy/image"
)

const usage = `Usage: image --binary FILE [--binary FILE ...] --version VERSION [flags]

Builds one OCI image per binary, without a container engine: an empty base
and one layer holding the binary at /PROGRAM (PROGRAM is the binary's file
name), run as user 65532:65532, with the org.opencontainers.image.* labels
(see the documentation of package deploy/image). Each binary must be a
static Linux executable (CGO_ENABLED=0) for --platform.

For each image it prints the reference, platform and digest, and the size
of its layer compressed (what a pull transfers) and uncompressed (what it
takes on disk).

The images are named agentweave (program agentweave) and agentweave-PROGRAM
(the others), tagged with the version, and written as
  --out-tar DIR     DIR/NAME.tar, for docker load or crane push FILE REF
  --out-layout DIR  DIR/NAME/, an OCI image layout of that one image, its
                    index entry's org.opencontainers.image.ref.name the
                    version: for crane push DIR REF or skopeo
Without either, the images are built and described only.

The same binaries and flags make the same digests: the creation time is
--created (by default $SOURCE_DATE_EPOCH), never the clock.

Example (what make image runs):
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -X main.version=v0.1.0' \
    -o .bin/image/ ./cmd/agentweave ./examples/quickstart/search
  cd deploy && SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) go run ./cmd/image \
    --binary ../.bin/image/agentweave --binary ../.bin/image/search \
    --version v0.1.0 --revision $(git rev-parse HEAD) \
    --out-tar ../.bin/image --out-layout ../.bin/image/oci

Flags:
`

// descriptions are the description labels of the repository's programs.
var descriptions = map[string]string{
	"agentweave":   "The AgentWeave CLI: serves an agent from its configuration, calls agents, verifies audit trails",
	"search":       "The AgentWeave quickstart's search agent",
	"orchestrator": "The AgentWeave quickstart's orchestrator agent",
	"conformance":  "An AgentWeave agent following the A2A TCK's scenario contract",
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "image: ") { // the package's errors have it
			msg = "image: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(2)
	}
}

// run parses args, builds the images and writes them, printing one
// paragraph per image to stdout.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var binaries []string
	fs.Func("binary", "a static Linux `FILE` to make an image of; repeat for one image per program (required)", func(s string) error {
		binaries = append(binaries, s)
		return nil
	})
	var (
		program     = fs.String("program", "", "the program's `NAME`, the file in the image (default: the binary's file name; only with one --binary)")
		description = fs.String("description", "", "the description label, a `TEXT` (default: one per program of this repository; only with one --binary)")
		version     = fs.String("version", "", "the image's `VERSION`, its tag and version label (required)")
		revision    = fs.String("revision", "", "the source revision label, a `COMMIT` ID")
		created     = fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "the creation `TIME`, in Unix seconds or RFC 3339 (default $SOURCE_DATE_EPOCH, else the Unix epoch)")
		platform    = fs.String("platform", "linux/"+defaultArch(), "the images' `PLATFORM`, linux/amd64 or linux/arm64, the binaries' (default linux/$GOARCH, else linux/amd64)")
		licenses    = fs.String("licenses", image.DefaultLicenses, "the licenses label, an `SPDX` expression (default NOASSERTION, \"not stated\": the repository has no license file yet)")
		outTar      = fs.String("out-tar", "", "write each image to `DIR`/NAME.tar (docker save format)")
		outLayout   = fs.String("out-layout", "", "write each image as the OCI image layout `DIR`/NAME/")
	)
	fs.Usage = func() {
		_, _ = io.WriteString(fs.Output(), usage)
		fs.VisitAll(func(f *flag.Flag) {
			typ, text := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  --%s %s\n    \t%s\n", f.Name, typ, strings.ReplaceAll(text, "\n", "\n    \t"))
		})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	if len(binaries) == 0 {
		return errors.New("no --binary (see --help)")
	}
	if len(binaries) > 1 && (*program != "" || *description != "") {
		return errors.New("--program and --description need exactly one --binary")
	}
	t, err := parseTime(*created)
	if err != nil {
		return err
	}
	for _, dir := range []string{*outTar, *outLayout} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return err
			}
		}
	}

	for _, bin := range binaries {
		s := image.Spec{
			Program:     cmp.Or(*program, filepath.Base(bin)),
			Binary:      bin,
			Version:     *version,
			Revision:    *revision,
			Created:     t,
			Platform:    *platform,
			Description: *description,
			Licenses:    *licenses,
		}
		if s.Description == "" {
			s.Description = descriptions[s.Program]
		}
		if err := buildOne(s, *outTar, *outLayout, stdout); err != nil {
			return err
		}
	}
	return nil
}

// buildOne builds s's image, writes it to the output directories given and
// describes it on w.
func buildOne(s image.Spec, outTar, outLayout string, w io.Writer) error {
	img, err := image.Build(s)
	if err != nil {
		return err
	}
	tag, err := s.Tag()
	if err != nil {
		return err
	}
	name, _, _ := strings.Cut(tag.String(), ":") // as given: no registry
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	compressed, uncompressed, err := layerSizes(img)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s  %s  %s\n  layer %s compressed, %s uncompressed\n",
		tag, cmp.Or(s.Platform, image.DefaultPlatform), digest, size(compressed), size(uncompressed))
	if outTar != "" {
		path := filepath.Join(outTar, name+".tar")
		if err := image.WriteTarball(path, tag, img); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s\n", path)
	}
	if outLayout != "" {
		dir := filepath.Join(outLayout, name)
		if err := image.WriteLayout(dir, tag, img); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s/ (OCI layout, ref.name %s)\n", dir, tag.TagStr())
	}
	return nil
}

// layerSizes returns the total size of img's layers, compressed and not.
func layerSizes(img v1.Image) (compressed, uncompressed int64, err error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		compressed += n
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		n, err = io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil {
			return 0, 0, err
		}
		uncompressed += n
	}
	return compressed, uncompressed, nil
}

// parseTime parses Unix seconds or RFC 3339; "" is the zero time (the
// Spec's default, the Unix epoch).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--created %q is neither Unix seconds nor RFC 3339", s)
	}
	return t, nil
}

// defaultArch is $GOARCH if set, else amd64 (not the host's: the images
// run on the cluster's nodes).
func defaultArch() string {
	if a := os.Getenv("GOARCH"); a != "" {
		return a
	}
	return "amd64"
}

// size formats n bytes in MiB, with the exact count.
func size(n int64) string {
	return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
}
