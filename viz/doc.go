// Package viz turns the engine's events into something a browser can draw.
//
// The pipeline has one entry point, [Recorder.Emit], which the engine calls
// on its hot path (the recorder implements engine.Tracer). From there an
// event fans out, without ever making the engine wait:
//
//	engine ──Emit──▶ Recorder ──▶ ring      recent history, GET /events
//	                          ──▶ Model     live state, GET /snapshot
//	                          ──▶ Hub       batches to WebSocket viewers
//	                          ──▶ trace     -record FILE, JSON Lines
//	                          ──▶ observers e.g. the kernel watcher
//
// Every step is bounded: the ring overwrites its oldest events, the hub keeps
// a bounded queue per viewer and counts what a slow viewer loses, the trace
// writer counts what a stalled disk loses. A [Gate] lets a presenter hold the
// engine's syscalls one at a time (step mode) or slow them down (pace).
//
// Concurrency: Emit may be called from any number of goroutines. Sequence
// numbers are assigned under one short mutex, so the ring, the model, the
// hub and the trace all see events in the same order.
package viz
