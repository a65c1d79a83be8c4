;; process(x) answers at once: x + 1, or the error code x when x is negative; cleanup() then
;; never returns.
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (loop $forever (br $forever)) (i32.const 0))
  (func (export "process") (param $x i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $x) (i32.const 0))
      (then (local.get $x))
      (else (i32.add (local.get $x) (i32.const 1))))))
