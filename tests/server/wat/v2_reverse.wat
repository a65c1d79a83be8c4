;; An ABI v2 plugin in plain WAT: reverses its input. A bump allocator that resets when nothing
;; is live; '!' or '#' as the first byte make it lie about its output (for the host's bounds
;; checks); empty input is error -3 with a message; every call logs through env.host_log.
(module
  (import "env" "host_log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 1024))
  (global $live (mut i32) (i32.const 0))
  (data (i32.const 16) "empty input")
  (data (i32.const 32) "reversing")
  (func (export "get_abi_version") (result i32) (i32.const 20000))
  (func $alloc (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (block $fits (loop $grow
      (br_if $fits (i64.le_u (i64.add (i64.extend_i32_u (local.get $p)) (i64.extend_i32_u (local.get $n)))
                             (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536))))
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
      (br $grow)))
    (global.set $next (i32.add (local.get $p) (local.get $n)))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $p))
  (func (export "dealloc") (param i32 i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (if (i32.eqz (global.get $live)) (then (global.set $next (i32.const 1024)))))
  (func (export "get_error_message") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 11)))
  (func (export "process_bytes") (param $p i32) (param $n i32) (result i64)
    (local $out i32) (local $i i32)
    (call $log (i32.const 1) (i32.const 32) (i32.const 9))
    (if (i32.eqz (local.get $n)) (then (return (i64.const -3))))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 33))  ;; '!': a pointer far outside memory
      (then (return (i64.const 0x7fff000000000010))))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 35))  ;; '#': a length running off the end
      (then (return (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 0x7ffffff0)))))
    (local.set $out (call $alloc (local.get $n)))
    (block $done (loop $copy
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (i32.add (local.get $out) (local.get $i))
        (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.add (local.get $i) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $copy)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
