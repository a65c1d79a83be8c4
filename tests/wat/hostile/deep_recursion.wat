;; Unbounded recursion: without a stack guard the interpreter's heap grows until the process aborts.
(module (func $process (export "process") (param i32) (result i32)
  (i32.add (i32.const 1) (call $process (i32.add (local.get 0) (i32.const 1))))))
