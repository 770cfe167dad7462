package image_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/agentweave/agentweave-go/deploy/image"
)

const testVersion = "v0.0.0-imagetest.1"

var testCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// buildPrograms builds the packages (paths relative to the root module) as
// static Linux binaries for the host's architecture, with the version set
// the way make image sets it, into a new temporary directory, and returns
// the binaries' paths by program name.
func buildPrograms(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the images' binaries run on Linux only, and this test runs them")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := append([]string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=" + testVersion, "-o", dir + "/"}, pkgs...)
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built %s in %v", strings.Join(pkgs, " "), time.Since(start).Round(time.Millisecond))
	bins := map[string]string{}
	for _, p := range pkgs {
		bins[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return bins
}

// spec returns the Spec the tests build program's image with.
func spec(program, binary string) image.Spec {
	return image.Spec{
		Program:     program,
		Binary:      binary,
		Version:     testVersion,
		Revision:    "0123456789abcdef0123456789abcdef01234567",
		Created:     testCreated,
		Platform:    "linux/" + runtime.GOARCH,
		Description: "the " + program + " test image",
	}
}

// written is an image written in both forms and read back.
type written struct {
	built, tarball, layout v1.Image
	tarPath, layoutDir     string
	index                  *v1.IndexManifest // the layout's
}

// buildAndWrite builds s's image, writes it as a tarball and a layout in a
// temporary directory and opens both with go-containerregistry.
func buildAndWrite(t *testing.T, s image.Spec) written {
	t.Helper()
	img, err := image.Build(s)
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	tag, err := s.Tag()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := written{built: img, tarPath: filepath.Join(dir, "image.tar"), layoutDir: filepath.Join(dir, "oci")}
	if err := image.WriteTarball(w.tarPath, tag, img); err != nil {
		t.Fatalf("WriteTarball() = %v", err)
	}
	if err := image.WriteLayout(w.layoutDir, tag, img); err != nil {
		t.Fatalf("WriteLayout() = %v", err)
	}
	if w.tarball, err = tarball.ImageFromPath(w.tarPath, nil); err != nil {
		t.Fatalf("tarball.ImageFromPath() = %v", err)
	}
	p, err := layout.FromPath(w.layoutDir)
	if err != nil {
		t.Fatalf("layout.FromPath() = %v", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if w.index, err = idx.IndexManifest(); err != nil {
		t.Fatal(err)
	}
	if len(w.index.Manifests) != 1 {
		t.Fatalf("the layout's index has %d manifests, want 1", len(w.index.Manifests))
	}
	if w.layout, err = p.Image(w.index.Manifests[0].Digest); err != nil {
		t.Fatalf("layout image: %v", err)
	}
	return w
}

// forms returns the image as read back from each written form.
func (w written) forms() []struct {
	name string
	img  v1.Image
} {
	return []struct {
		name string
		img  v1.Image
	}{{"tarball", w.tarball}, {"layout", w.layout}}
}

// entry is a file system entry of an image.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// filesystem returns every entry of img's flattened file system.
func filesystem(t *testing.T, img v1.Image) []entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var entries []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("reading the image's file system: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{hdr, data})
	}
}

// onlyBinary checks that img's file system is exactly the file /program,
// regular, mode 0555, owned by 65532:65532, modified at testCreated, holding
// the bytes of the file at binary, and returns those bytes.
func onlyBinary(t *testing.T, img v1.Image, program, binary string) []byte {
	t.Helper()
	entries := filesystem(t, img)
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
	}
	if len(entries) != 1 || path(entries[0].hdr.Name) != "/"+program {
		t.Fatalf("file system = %q, want only /%s", names, program)
	}
	h := entries[0].hdr
	if h.Typeflag != tar.TypeReg || h.Mode&0o7777 != 0o555 || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("/%s: type %q mode %o owner %d:%d, want a regular file, 0555, 65532:65532", program, h.Typeflag, h.Mode, h.Uid, h.Gid)
	}
	if !h.ModTime.Equal(testCreated) {
		t.Errorf("/%s: modified %v, want %v", program, h.ModTime, testCreated)
	}
	want, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(entries[0].data, want) {
		t.Errorf("/%s: %d bytes, not the binary's %d", program, len(entries[0].data), len(want))
	}
	return entries[0].data
}

// path returns a tar entry's name as an absolute path.
func path(name string) string {
	return "/" + strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/")
}

// runExtracted writes bin to an executable file of its own and runs it with
// args, returning its exit error and combined output.
func runExtracted(t *testing.T, bin []byte, args ...string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "program")
	if err := os.WriteFile(f, bin, 0o555); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), f, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{} // as in the image: no environment but the runtime's
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// assertStatic checks that the file at binary is an ELF executable for the
// host's architecture with no PT_INTERP program header: static, so it runs
// in an image with no dynamic linker or C library.
func assertStatic(t *testing.T, binary string) {
	t.Helper()
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatalf("%s is not ELF: %v", binary, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF type %v, want ET_EXEC", binary, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP header: dynamically linked", binary)
		}
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if f.Machine != want {
		t.Errorf("%s: machine %v, want %v", binary, f.Machine, want)
	}
}

// wantLabels are the labels of spec(program, …)'s image.
func wantLabels(program string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":         program,
		"org.opencontainers.image.description":   "the " + program + " test image",
		"org.opencontainers.image.version":       testVersion,
		"org.opencontainers.image.revision":      "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.created":       "2026-01-02T03:04:05Z",
		"org.opencontainers.image.source":        "https://github.com/agentweave/agentweave-go",
		"org.opencontainers.image.licenses":      "NOASSERTION",
		"org.opencontainers.image.url":           "https://github.com/agentweave/agentweave-go",
		"org.opencontainers.image.documentation": "https://github.com/agentweave/agentweave-go#readme",
		"org.opencontainers.image.vendor":        "AgentWeave",
	}
}

// TestAgentweaveImage builds the agentweave binary for real, then its image,
// and checks both written forms.
func TestAgentweaveImage(t *testing.T) {
	t.Parallel()
	bin := buildPrograms(t, "./cmd/agentweave")["agentweave"]
	s := spec("agentweave", bin)
	w := buildAndWrite(t, s)

	t.Run("StaticBinary", func(t *testing.T) {
		t.Parallel()
		assertStatic(t, bin)
	})

	for _, f := range w.forms() {
		t.Run("Config/"+f.name, func(t *testing.T) {
			t.Parallel()
			cf, err := f.img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if c.User != "65532:65532" {
				t.Errorf("User = %q, want 65532:65532 (numeric, not root)", c.User)
			}
			if want := []string{"/agentweave"}; !slices.Equal(c.Entrypoint, want) {
				t.Errorf("Entrypoint = %q, want %q", c.Entrypoint, want)
			}
			if c.Cmd != nil || c.Env != nil || c.WorkingDir != "/" {
				t.Errorf("Cmd = %q, Env = %q, WorkingDir = %q; want no Cmd, no Env, /", c.Cmd, c.Env, c.WorkingDir)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
			}
			if !cf.Created.Equal(testCreated) {
				t.Errorf("Created = %v, want %v", cf.Created, testCreated)
			}
			if want := wantLabels("agentweave"); !maps.Equal(c.Labels, want) {
				t.Errorf("Labels = %v, want %v", c.Labels, want)
			}
		})

		t.Run("Filesystem/"+f.name, func(t *testing.T) {
			t.Parallel()
			got := onlyBinary(t, f.img, "agentweave", bin)
			out, err := runExtracted(t, got, "version")
			if err != nil {
				t.Fatalf("/agentweave version: %v\n%s", err, out)
			}
			if !strings.Contains(out, "agentweave "+testVersion) {
				t.Errorf("/agentweave version = %q, want it to contain %q", out, "agentweave "+testVersion)
			}
		})
	}

	t.Run("Layout", func(t *testing.T) {
		t.Parallel()
		built, err := w.built.Digest()
		if err != nil {
			t.Fatal(err)
		}
		d := w.index.Manifests[0]
		if d.Digest != built {
			t.Errorf("the layout's image is %v, want the built image %v", d.Digest, built)
		}
		if got := d.Annotations[image.RefNameAnnotation]; got != testVersion {
			t.Errorf("index annotation %s = %q, want %q", image.RefNameAnnotation, got, testVersion)
		}
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH {
			t.Errorf("index entry's platform = %v, want linux/%s", d.Platform, runtime.GOARCH)
		}
		m, err := w.layout.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("manifest media type %s, config %s; want %s, %s", m.MediaType, m.Config.MediaType, types.OCIManifestSchema1, types.OCIConfigJSON)
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
			t.Errorf("layers = %v, want one %s", m.Layers, types.OCILayer)
		}
		if want := wantLabels("agentweave"); !maps.Equal(m.Annotations, want) {
			t.Errorf("manifest annotations = %v, want %v", m.Annotations, want)
		}
	})

	t.Run("DockerTarball", func(t *testing.T) {
		t.Parallel()
		var manifest []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		if err := json.Unmarshal(tarFile(t, w.tarPath, "manifest.json"), &manifest); err != nil {
			t.Fatal(err)
		}
		if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{"agentweave:" + testVersion}) {
			t.Fatalf("manifest.json = %+v, want one image tagged agentweave:%s", manifest, testVersion)
		}
		// docker load has no manifest to read: the image is its config and
		// layers, which must be the built image's.
		for _, f := range []func(v1.Image) (v1.Hash, error){v1.Image.ConfigName, layerDigest} {
			want, err := f(w.built)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := f(w.tarball); err != nil || got != want {
				t.Errorf("tarball: %v, %v; want %v", got, err, want)
			}
		}
	})

	t.Run("Reproducible", func(t *testing.T) {
		t.Parallel()
		again := buildAndWrite(t, s)
		d1, err := w.built.Digest()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := again.built.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d1 != d2 {
			t.Errorf("two builds from the same inputs: digests %v and %v", d1, d2)
		}
		for _, f := range []string{"image.tar", filepath.Join("oci", "index.json")} {
			b1 := readFile(t, filepath.Join(filepath.Dir(w.tarPath), f))
			b2 := readFile(t, filepath.Join(filepath.Dir(again.tarPath), f))
			if !bytes.Equal(b1, b2) {
				t.Errorf("%s differs between two builds from the same inputs", f)
			}
		}
	})

	t.Run("WrongPlatform", func(t *testing.T) {
		t.Parallel()
		other := map[string]string{"amd64": "linux/arm64", "arm64": "linux/amd64"}[runtime.GOARCH]
		s := s
		s.Platform = other
		if _, err := image.Build(s); !errors.Is(err, image.ErrPlatform) {
			t.Errorf("Build(%s binary for %s) = %v, want ErrPlatform", runtime.GOARCH, other, err)
		}
	})
}

// TestExampleImages builds the example programs and checks that each image
// holds only its static binary, which runs: --help prints the flags (they
// use package flag, which exits 0 on --help).
func TestExampleImages(t *testing.T) {
	t.Parallel()
	pkgs := []string{"./examples/quickstart/search", "./examples/quickstart/orchestrator", "./examples/conformance"}
	bins := buildPrograms(t, pkgs...)
	wantFlags := map[string][]string{
		"search":       {"-config"},
		"orchestrator": {"-config"},
		"conformance":  {"-config", "-dev", "-addr"},
	}
	for program, bin := range bins {
		t.Run(program, func(t *testing.T) {
			t.Parallel()
			assertStatic(t, bin)
			w := buildAndWrite(t, spec(program, bin))
			for _, f := range w.forms() {
				cf, err := f.img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"/" + program}; !slices.Equal(cf.Config.Entrypoint, want) || cf.Config.User != image.User {
					t.Errorf("%s: Entrypoint %q User %q, want %q %q", f.name, cf.Config.Entrypoint, cf.Config.User, want, image.User)
				}
				got := onlyBinary(t, f.img, program, bin)
				out, err := runExtracted(t, got, "--help")
				if err != nil {
					t.Fatalf("%s: /%s --help: %v\n%s", f.name, program, err, out)
				}
				for _, flag := range wantFlags[program] {
					if !strings.Contains(out, "  "+flag+" ") {
						t.Errorf("%s: /%s --help = %q, want the flag %s", f.name, program, out, flag)
					}
				}
			}
			tag, err := spec(program, bin).Tag()
			if err != nil {
				t.Fatal(err)
			}
			if want := "agentweave-" + program + ":" + testVersion; tag.String() != want {
				t.Errorf("Tag() = %s, want %s", tag, want)
			}
		})
	}
}

// TestBuildRefusesNonStatic checks that Build refuses what cannot run on an
// empty base: a dynamically linked executable and a file that is not ELF.
func TestBuildRefusesNonStatic(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, binary string }{
		{"script", script},
		{"dynamic", dynamicExecutable(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.binary == "" {
				t.Skip("no dynamically linked executable on this host")
			}
			s := spec("program", tt.binary)
			s.Platform = "linux/" + runtime.GOARCH
			if _, err := image.Build(s); !errors.Is(err, image.ErrNotStatic) {
				t.Errorf("Build(%s) = %v, want ErrNotStatic", tt.binary, err)
			}
		})
	}
}

// dynamicExecutable returns the path of a dynamically linked executable of
// the host (one with a PT_INTERP header), or "".
func dynamicExecutable(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if dynamic {
			return p
		}
	}
	return ""
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec image.Spec
		want []string // substrings of the error, "" for none
	}{
		{"valid", image.Spec{Program: "agentweave", Binary: "x", Version: "v1.2.3"}, nil},
		{"arm64", image.Spec{Program: "agentweave", Binary: "x", Version: "1", Platform: "linux/arm64/v8"}, nil},
		{"zero", image.Spec{}, []string{"no program", "no binary", "no version"}},
		{"bad names", image.Spec{Program: "a/b", Binary: "x", Version: "v1+meta"}, []string{"not a file name", "version"}},
		{"platform", image.Spec{Program: "p", Binary: "x", Version: "1", Platform: "windows/amd64"}, []string{"only linux/amd64 and linux/arm64"}},
		{"arch", image.Spec{Program: "p", Binary: "x", Version: "1", Platform: "linux/riscv64"}, []string{"only linux/amd64 and linux/arm64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.spec.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestWriteLayoutReplaces checks that writing a layout over an earlier one
// leaves one image in it, and that a directory that is not a layout is
// left alone.
func TestWriteLayoutReplaces(t *testing.T) {
	t.Parallel()
	s := image.Spec{Program: "p", Binary: "x", Version: "1"}
	tag, err := s.Tag()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var last v1.Hash
	for range 2 {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := image.WriteLayout(dir, tag, img); err != nil {
			t.Fatalf("WriteLayout() = %v", err)
		}
		if last, err = img.Digest(); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != last {
		t.Errorf("layout index = %v, want only the last image %v", m.Manifests, last)
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 3 { // manifest, config, layer
		t.Errorf("layout holds %d blobs, want the last image's 3", len(blobs))
	}

	other := t.TempDir()
	keep := filepath.Join(other, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(other, tag, img); err == nil {
		t.Error("WriteLayout(a directory that is not a layout) = nil, want an error")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("WriteLayout removed a file of a directory that is not a layout: %v", err)
	}
}

func ExampleSpec_Tag() {
	for _, program := range []string{"agentweave", "search"} {
		tag, err := image.Spec{Program: program, Binary: "bin/" + program, Version: "v0.1.0"}.Tag()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tag)
	}
	// Output:
	// agentweave:v0.1.0
	// agentweave-search:v0.1.0
}

func ExampleSpec_Labels() {
	s := image.Spec{
		Program:  "agentweave",
		Binary:   "bin/agentweave",
		Version:  "v0.1.0",
		Revision: "59c338822838eb70eefc6f87a79ce166459d1899",
		Created:  time.Unix(1764117258, 0), // $SOURCE_DATE_EPOCH
	}
	labels := s.Labels()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Printf("%s=%s\n", k, labels[k])
	}
	// Output:
	// org.opencontainers.image.created=2025-11-26T00:34:18Z
	// org.opencontainers.image.documentation=https://github.com/agentweave/agentweave-go#readme
	// org.opencontainers.image.licenses=NOASSERTION
	// org.opencontainers.image.revision=59c338822838eb70eefc6f87a79ce166459d1899
	// org.opencontainers.image.source=https://github.com/agentweave/agentweave-go
	// org.opencontainers.image.title=agentweave
	// org.opencontainers.image.url=https://github.com/agentweave/agentweave-go
	// org.opencontainers.image.vendor=AgentWeave
	// org.opencontainers.image.version=v0.1.0
}

// layerDigest returns the digest of img's only layer.
func layerDigest(img v1.Image) (v1.Hash, error) {
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(layers) != 1 {
		return v1.Hash{}, errors.New("not one layer")
	}
	return layers[0].Digest()
}

// tarFile returns the contents of the file name in the tar file at path.
func tarFile(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s in %s: %v", name, path, err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
