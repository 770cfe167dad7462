package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
)

var (
	// ErrNotStatic is returned by [Build] for a binary that is not a
	// static ELF executable: the image has no dynamic linker and no C
	// library, so only a program built with CGO_ENABLED=0 runs in it.
	ErrNotStatic = errors.New("image: the binary is not a static ELF executable")
	// ErrPlatform is returned by [Build] for a binary built for another
	// architecture than the image's platform.
	ErrPlatform = errors.New("image: the binary is not built for the image's platform")
)

// checkBinary returns nil if bin is a static ELF executable for arch (a key
// of machines): no PT_INTERP program header, so no dynamic linker to find.
func checkBinary(bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotStatic, err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: ELF type %v", ErrNotStatic, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: it needs a dynamic linker (build it with CGO_ENABLED=0)", ErrNotStatic)
		}
	}
	if want := machines[arch]; f.Machine != want {
		return fmt.Errorf("%w: it is built for %v, the platform's architecture %s is %v", ErrPlatform, f.Machine, arch, want)
	}
	return nil
}
