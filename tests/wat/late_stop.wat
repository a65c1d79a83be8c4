;; The late-stop test (test_executor.py): pause_then_return(ms) waits in the host and returns
;; without a loop or call after it (no point where the engine checks for a stop);
;; count(n) loops n times (it does check).
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (func (export "pause_then_return") (param i32) (result i32) (call $pause (local.get 0)))
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))
