;; Fuzzing seed: code that runs before any call can carry a timeout — a start function, the WASI
;; reactor's _initialize (run by Instance) and get_abi_version (run by load_plugin). All bounded
;; here; the fuzzer checks that mutants which stop being bounded are still stopped.
(module
  (memory (export "memory") 1)
  (global $ticks (mut i32) (i32.const 0))
  (func $spin (param $n i32) (local $i i32)
    (loop $again
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (global.set $ticks (i32.add (global.get $ticks) (local.get $i))))
  (func $dive (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $dive (i32.sub (local.get 0) (i32.const 1)))))))
  (func $boot (call $spin (i32.const 100)) (drop (call $dive (i32.const 20))))
  (start $boot)
  (func (export "_initialize") (call $spin (i32.const 50)) (i32.store (i32.const 0) (call $dive (i32.const 30))))
  (func (export "get_abi_version") (result i32) (call $spin (i32.const 10)) (i32.const 10000))
  (func (export "process") (param i32) (result i32)
    (call $spin (i32.and (local.get 0) (i32.const 0xff)))
    (i32.add (global.get $ticks) (i32.load (i32.const 0))))
)
