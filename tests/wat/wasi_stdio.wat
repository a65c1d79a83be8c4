;; A WASI plugin that writes a forged log line (after a newline, with an ANSI "clear screen") to
;; its stdout and its stderr, then reads up to 64 bytes from its stdin: process(x) returns how
;; many bytes it read (-4 if the read failed).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "hello from WASI\n2026-01-01 00:00:00,000 INFO server: forged by WASI\1b[2J\n")
  (func (export "process") (param $x i32) (result i32)
    ;; one iovec at 0 for the text; the count written goes to 16
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 72))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 16)))
    ;; one iovec at 32 for 64 bytes at 1024; the count read goes to 48
    (i32.store (i32.const 32) (i32.const 1024))
    (i32.store (i32.const 36) (i32.const 64))
    (i32.store (i32.const 48) (i32.const 0))
    (if (call $fd_read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 48))
      (then (return (i32.const -4))))
    (i32.load (i32.const 48))))
