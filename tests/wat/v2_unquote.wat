;; An ABI v2 plugin that answers with its input minus the first and last byte: the JSON string
;; "NaN" comes back as the bare text NaN, so a test can make it return any text (escapes aside).
(module
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 1024))
  (func (export "get_abi_version") (result i32) (i32.const 20000))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (block $fits (loop $grow
      (br_if $fits (i64.le_u (i64.add (i64.extend_i32_u (local.get $p)) (i64.extend_i32_u (local.get $n)))
                             (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536))))
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
      (br $grow)))
    (global.set $next (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "dealloc") (param i32 i32))
  (func (export "process_bytes") (param $p i32) (param $n i32) (result i64)
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i64.const -3))))
    (i64.or (i64.shl (i64.extend_i32_u (i32.add (local.get $p) (i32.const 1))) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $n) (i32.const 2))))))
