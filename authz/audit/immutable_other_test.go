//go:build !linux

package audit_test

import "errors"

func setImmutable(string, bool) error { return errors.ErrUnsupported }
