;; Grows linear memory one page at a time until the host's cap refuses, then touches past the end.
(module (memory (export "memory") 1)
  (func (export "process") (param i32) (result i32)
    (block $capped (loop $grow
      (br_if $capped (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (br $grow)))
    (i32.load (i32.mul (memory.size) (i32.const 65536)))))
