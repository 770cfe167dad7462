// Package image builds the OCI image of one static Go program without a
// container engine, with go-containerregistry, and writes it as a
// docker-compatible tarball and as an OCI image layout.
//
// # What is in an image
//
// Nothing but the program. The base is empty (no shell, no C library, no
// /etc, no CA certificates) and the one layer holds one regular file:
//
//	/PROGRAM   mode 0555 (read-only, executable), owner 65532:65532,
//	           modification time = Spec.Created
//
// The config sets:
//
//   - User "65532:65532" ([User]): numeric, so no /etc/passwd is needed,
//     and not root, so a pod with runAsNonRoot starts it as is.
//   - Entrypoint ["/PROGRAM"] and no Cmd: the container's arguments (a
//     pod's args, `docker run IMAGE ARGS`) are the program's whole command
//     line. A default Cmd such as ["--help"] would only hide a missing args
//     behind a help text; with none, `agentweave` alone prints its usage
//     anyway.
//   - WorkingDir "/" and no Env. No SSL_CERT_FILE: the agents trust the
//     SPIFFE bundles they get from the Workload API, not system roots.
//   - OS linux and the architecture of Spec.Platform (amd64 by default, or
//     arm64); the binary must be built for it.
//   - The labels org.opencontainers.image.{title, description, version,
//     revision, created, source, licenses, url, documentation, vendor}
//     ([Spec.Labels]), also set as annotations of the manifest.
//
// No path is writable by the user, and none needs to be: an agent writes
// nothing unless its configuration says so (an audit file, a SQLite task
// store), and the Helm chart mounts an emptyDir where it does. The image
// runs with a read-only root filesystem.
//
// The manifest, config and layer have the OCI media types. The layer is
// gzip-compressed (what every engine and registry accepts).
//
// # Reproducible
//
// The same binary and the same [Spec] make the same image, byte for byte
// and so the same digest: the creation time is Spec.Created (set it from
// SOURCE_DATE_EPOCH or the commit time, never the clock), which is also the
// file's modification time, and nothing else varies. Build the binary with
// -trimpath for it to be reproducible too.
//
// # Walk-through
//
// Build a static binary, then its image, then write both forms:
//
//	// CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath \
//	//   -ldflags '-s -w -X main.version=v0.1.0' -o bin/ ./cmd/agentweave
//	s := image.Spec{
//		Program:  "agentweave",
//		Binary:   "bin/agentweave",
//		Version:  "v0.1.0",
//		Revision: commit,
//		Created:  time.Unix(sourceDateEpoch, 0),
//	}
//	img, err := image.Build(s) // ErrNotStatic for a cgo binary
//	if err != nil { ... }
//	tag, _ := s.Tag() // agentweave:v0.1.0 (checked by Build)
//	err = image.WriteTarball("agentweave.tar", tag, img)
//	err = image.WriteLayout("oci/agentweave", tag, img)
//
// Then, with an engine or a registry elsewhere:
//
//	docker load -i agentweave.tar             # tagged agentweave:v0.1.0
//	crane push agentweave.tar REGISTRY/agentweave:v0.1.0
//	crane push oci/agentweave REGISTRY/agentweave:v0.1.0
//
// crane push takes a tarball or a layout directory holding exactly one
// image, which is why [WriteLayout] writes one image per layout (its index
// entry named by [RefNameAnnotation]). Only the layout keeps the OCI
// manifest and its annotations: the docker tarball format stores the config
// and layers but no manifest ([WriteTarball]).
//
// `make image` at the repository's root does all of this for the four
// programs of the repository with the command deploy/cmd/image.
package image
