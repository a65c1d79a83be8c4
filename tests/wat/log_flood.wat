;; Floods env.host_log. process(n) logs |n| messages: for n > 0 each of 55 bytes that try to forge
;; a log line (a newline, a fake server line, an ANSI "clear screen"), for n < 0 each of 4096
;; bytes; it returns |n|. init() logs one message claiming to be 2 GiB long; cleanup() logs one
;; plain message.
(module
  (import "env" "host_log" (func $log (param i32 i32 i32)))
  (memory 2)
  (data (i32.const 16) "hi\n2026-01-01 00:00:00,000 INFO server: forged line\1b[2J")
  (data (i32.const 8192) "cleaned up")
  (func (export "init") (result i32)
    (call $log (i32.const 2) (i32.const 16) (i32.const 0x7fffffff))
    (i32.const 0))
  (func (export "cleanup") (result i32)
    (call $log (i32.const 1) (i32.const 8192) (i32.const 10))
    (i32.const 0))
  (func (export "process") (param $n i32) (result i32)
    (local $i i32) (local $count i32) (local $size i32)
    (local.set $count (local.get $n))
    (local.set $size (i32.const 55))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (local.set $count (i32.sub (i32.const 0) (local.get $n)))
            (local.set $size (i32.const 4096))))
    (block $done (loop $again
      (br_if $done (i32.ge_s (local.get $i) (local.get $count)))
      (call $log (i32.const 1) (i32.const 16) (local.get $size))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (local.get $count)))
