;; The compiler and executor tests' module: spin() runs away, count(n) loops n times,
;; runaway() recurses until the stack is exhausted, fib(n) is a compute-heavy call.
(module
  (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1))
  (func $runaway (export "runaway") (result i32) (i32.add (i32.const 1) (call $runaway)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
)
