// Package benchserver holds the servers `make bench` compares, each run
// in a process of its own so that its CPU time can be read from
// /proc/PID/stat over the load window:
//
//	plain       net/http JSON-RPC echo over h2c (the physical floor)
//	a2ago       a2a-go v2.4.0's default handler over h2c
//	mtls        an AgentWeave agent, mTLS only (development, allow-all, no audit, no metrics)
//	full        an AgentWeave agent in production: mTLS, embedded OPA (rbac),
//	            audit to a file synced on every record, metrics, tracing at ratio 0
//	full-100ms  full, with the audit file synced every 100ms
//
// The server program is ./server (one variant per process, selected by
// -variant); the driver, ./driver, runs the development CA, starts each
// server, puts load on it with package loadgen and prints the table.
package benchserver
