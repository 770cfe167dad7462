package resilience

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkBreakersDo(b *testing.B) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	b.Run("serial", func(b *testing.B) {
		br := NewBreakers(BreakerOptions{})
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, peer, ok)
		}
	})
	b.Run("parallel/1target", func(b *testing.B) {
		br := NewBreakers(BreakerOptions{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = br.Do(ctx, peer, ok)
			}
		})
	})
	b.Run("parallel/100targets", func(b *testing.B) {
		br := NewBreakers(BreakerOptions{})
		targets := make([]string, 100)
		for i := range targets {
			targets[i] = fmt.Sprintf("spiffe://example.org/agent/%d", i)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_ = br.Do(ctx, targets[i%len(targets)], ok)
				i++
			}
		})
	})
	// Twice as many targets as MaxTargets: every call evicts a breaker and
	// creates one.
	b.Run("evicting", func(b *testing.B) {
		br := NewBreakers(BreakerOptions{MaxTargets: 100})
		targets := make([]string, 200)
		for i := range targets {
			targets[i] = fmt.Sprintf("spiffe://example.org/agent/%d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = br.Do(ctx, targets[i%len(targets)], ok)
			i++
		}
	})
}

func BenchmarkRateLimiterAllow(b *testing.B) {
	b.Run("allowed", func(b *testing.B) {
		l := NewRateLimiter(RateOptions{PerSecond: 1e12, Burst: 1 << 30})
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Allow(alice)
		}
	})
	b.Run("refused", func(b *testing.B) {
		l := NewRateLimiter(RateOptions{PerSecond: 1e-3, Burst: 1})
		_ = l.Allow(alice)
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Allow(alice)
		}
	})
	b.Run("parallel/100keys", func(b *testing.B) {
		l := NewRateLimiter(RateOptions{PerSecond: 1e12, Burst: 1 << 30})
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = fmt.Sprintf("spiffe://example.org/agent/%d", i)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_ = l.Allow(keys[i%len(keys)])
				i++
			}
		})
	})
	// Twice as many keys as MaxKeys: every call forgets a key and tracks
	// a new one.
	b.Run("evicting", func(b *testing.B) {
		l := NewRateLimiter(RateOptions{PerSecond: 1e12, Burst: 1 << 30, MaxKeys: 100})
		keys := make([]string, 200)
		for i := range keys {
			keys[i] = fmt.Sprintf("spiffe://example.org/agent/%d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = l.Allow(keys[i%len(keys)])
			i++
		}
	})
}
