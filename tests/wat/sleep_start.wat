;; Its start function sleeps 20 s in WASI's poll_oneoff, so whoever instantiates it -- a request,
;; or GET /plugins describing it -- waits in a host call that no timeout can interrupt.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $sleep
    (i32.store (i32.const 16) (i32.const 1))  ;; a clock subscription, as in sleep.wat
    (i64.store (i32.const 24) (i64.const 20000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))))
  (start $sleep)
  (func (export "process") (param i32) (result i32) (local.get 0)))
