package audit

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/agentweave/agentweave-go/authz"
)

// Sink stores record lines. A [Logger] calls it from one goroutine at a
// time.
type Sink interface {
	// WriteRecord stores line, one complete record ending in '\n', or
	// returns an error. It must not retain line. Sinks that can block
	// for long (network) give up when ctx is done; the sinks of this
	// package ignore ctx, so that every decision made is recorded.
	WriteRecord(ctx context.Context, line []byte) error
	// Close flushes and releases the sink.
	Close() error
}

// Resumer is implemented by sinks that already hold records (a file
// reopened after a restart), so that a [Logger] continues their chain.
type Resumer interface {
	// LastHash returns the hash of the last record stored, or
	// GenesisHash if there is none.
	LastHash() string
}

// Options configures a [Logger]. The zero value is the production setting.
type Options struct {
	// Clock returns the current time. Default: time.Now. Tests fix it.
	Clock func() time.Time
	// Rand supplies the random bits of audit IDs. Default: crypto/rand.
	// Tests and examples fix it to get reproducible records.
	Rand io.Reader
	// PrevHash continues an existing chain on a sink that does not
	// implement [Resumer] (a stream whose records a collector keeps): the
	// hash of the last record written before. Default: GenesisHash, a new
	// trail. With a Resumer it must be empty or equal its LastHash.
	PrevHash string
}

// Logger writes one hash-chained record per authorization decision. It is
// safe for concurrent use: records are serialized, so the chain is a total
// order.
type Logger struct {
	sink  Sink
	clock func() time.Time
	rand  io.Reader

	mu     sync.Mutex // guards below and the calls to sink
	prev   string
	buf    []byte
	closed bool
}

// New returns a Logger writing to sink. It continues the sink's chain if
// the sink implements [Resumer], else the chain of opts.PrevHash. The
// Logger owns sink: [Logger.Close] closes it.
func New(sink Sink, opts Options) (*Logger, error) {
	if sink == nil {
		return nil, errors.New("audit: nil sink")
	}
	prev := opts.PrevHash
	if prev != "" && !isHash(prev) {
		return nil, fmt.Errorf("audit: Options.PrevHash %q is not 64 lowercase hex digits", truncate(prev))
	}
	if r, ok := sink.(Resumer); ok {
		last := r.LastHash()
		if prev != "" && prev != last {
			return nil, fmt.Errorf("audit: Options.PrevHash %s differs from the last hash %s of the sink's records", prev, last)
		}
		prev = last
	}
	if prev == "" {
		prev = GenesisHash
	}
	l := &Logger{sink: sink, clock: opts.Clock, rand: opts.Rand, prev: prev}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.rand == nil {
		l.rand = rand.Reader
	}
	return l, nil
}

// Record writes the record of decision d on in, which took latency, and
// returns it; the caller puts its AuditID in the decision. It returns an
// error, and writes nothing, if the record cannot be stored (the caller
// must then deny the call), if it would exceed [MaxLineBytes], or after
// [Logger.Close]. ctx is passed to the sink.
func (l *Logger) Record(ctx context.Context, in *authz.Input, d authz.Decision, latency time.Duration) (Record, error) {
	if in == nil {
		return Record{}, errors.New("audit: nil input")
	}
	rec := Record{
		Direction:      authz.Direction(valid(string(in.Direction))),
		CallerSPIFFEID: valid(in.CallerSPIFFEID),
		CalleeSPIFFEID: valid(in.CalleeSPIFFEID),
		Action:         valid(in.Action),
		Operation:      valid(in.Operation),
		TaskID:         valid(in.TaskID),
		Decision:       Denied,
		Reason:         valid(d.Reason),
		PolicyRevision: valid(d.PolicyRevision),
		Latency:        latency.String(),
	}
	if d.Allow {
		rec.Decision = Allowed
	}

	seq, err := l.append(ctx, &rec)
	if err != nil {
		return Record{}, err
	}
	// A file that syncs every record syncs outside the lock, so that
	// records written meanwhile share the fsync (group commit).
	if fs, ok := l.sink.(*FileSink); ok && seq > 0 && fs.opts.Sync == SyncEvery {
		if err := fs.syncThrough(seq); err != nil {
			return Record{}, err
		}
	}
	return rec, nil
}

// append chains rec to the trail and hands it to the sink, under the
// lock that orders the chain. For a FileSink it returns the record's
// sequence number, still to be synced.
func (l *Logger) append(ctx context.Context, rec *Record) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("audit: %w", net.ErrClosed)
	}
	// Time and ID are taken under the lock so that timestamps never go
	// backwards along the chain.
	now := l.clock().UTC()
	id, err := newUUIDv7(now, l.rand)
	if err != nil {
		return 0, fmt.Errorf("audit: audit ID: %w", err)
	}
	rec.Timestamp = now.Format(TimeLayout)
	rec.AuditID = id
	rec.PrevHash = l.prev
	rec.Hash = sum(l.buf, rec)
	l.buf = append(appendCanonical(l.buf[:0], rec), '\n')
	if len(l.buf)-1 > MaxLineBytes {
		return 0, fmt.Errorf("audit: record of %d bytes exceeds %d", len(l.buf)-1, MaxLineBytes)
	}
	var seq uint64
	if fs, ok := l.sink.(*FileSink); ok {
		seq, err = fs.write(l.buf)
	} else {
		err = l.sink.WriteRecord(ctx, l.buf)
	}
	if err != nil {
		return 0, err
	}
	l.prev = rec.Hash
	return seq, nil
}

// LastHash returns the hash of the last record written, GenesisHash or
// Options.PrevHash before the first. Keeping copies of it elsewhere (an
// anchor) lets [Verify] users detect a rewritten or cut trail.
func (l *Logger) LastHash() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.prev
}

// Close closes the sink. Later calls to Record fail; Close is idempotent.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.sink.Close()
}

// valid replaces invalid UTF-8, which has no canonical JSON encoding.
func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// newUUIDv7 returns an RFC 9562 version 7 UUID: 48 bits of Unix
// milliseconds, then 74 random bits.
func newUUIDv7(t time.Time, r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[6:]); err != nil {
		return "", err
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli())) //nolint:gosec // times before 1970 are not audited
	copy(b[:6], ms[2:])
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:]), nil
}
