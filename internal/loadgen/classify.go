package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
)

// Classify names the kind of a request's failure, "" for success:
//
//   - "transport KIND" when err is set, KIND one of timeout, canceled,
//     refused, reset, eof, tls, other;
//   - "http CODE" for a status other than 200;
//   - "jsonrpc CODE" for a JSON-RPC error response;
//   - "task STATE" for a task that ended failed, rejected or canceled.
//
// Anything else answered with 200 is a success (a completed or waiting
// task, or a direct message).
func Classify(err error, status int, body []byte) string {
	if err != nil {
		return "transport " + transportKind(err)
	}
	if status != 200 {
		return "http " + strconv.Itoa(status)
	}
	if bytes.Contains(body, []byte(`"error"`)) {
		var env struct {
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &env) == nil && env.Error != nil {
			return "jsonrpc " + strconv.Itoa(env.Error.Code)
		}
	}
	for _, st := range failedStates {
		if bytes.Contains(body, st) {
			return "task " + string(st[len(`"state":"`):len(st)-1])
		}
	}
	return ""
}

var failedStates = [][]byte{
	[]byte(`"state":"TASK_STATE_FAILED"`),
	[]byte(`"state":"TASK_STATE_REJECTED"`),
	[]byte(`"state":"TASK_STATE_CANCELED"`),
}

// transportKind is an ordered table: the first match wins.
func transportKind(err error) string {
	var (
		ne       net.Error
		certErr  *tls.CertificateVerificationError
		alertErr tls.AlertError
		recErr   tls.RecordHeaderError
		unkAuth  x509.UnknownAuthorityError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recErr), errors.As(err, &unkAuth):
		return "tls"
	default:
		return "other"
	}
}
