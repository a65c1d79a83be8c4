;; process(ms): sleeps ms milliseconds in WASI's poll_oneoff -- a host call, which the engine's
;; timeout cannot interrupt -- then returns ms. Needs `wasi = true` in its plugin.toml.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "process") (param $ms i32) (result i32)
    ;; One clock subscription at 0: userdata @0, tag @8 (0 = clock), clock id @16 (1 = monotonic),
    ;; relative timeout in ns @24; the event goes to 64, the count of events to 128.
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.mul (i64.extend_i32_u (local.get $ms)) (i64.const 1000000)))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (local.get $ms)))
