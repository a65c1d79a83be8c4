;; process(x) answers with the ABI's error codes: -3 (ABI_ERROR_INVALID_INPUT) for x < 0,
;; otherwise x itself; -77 for x == 77 (a code the ABI does not name).
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $x i32) (result i32)
    (if (i32.lt_s (local.get $x) (i32.const 0)) (then (return (i32.const -3))))
    (if (i32.eq (local.get $x) (i32.const 77)) (then (return (i32.const -77))))
    (local.get $x)))
