;; Linear memory for the CLI parity tests (tests/parity). One page to start, at most three.
;; Every call runs in a fresh instance, so each function does its whole round trip itself.
(module
  (memory (export "memory") 1 3)
  (data (i32.const 16) "\01\02\03\04\05\06\07\08\ff\fe\fd\fc\80\00\00\7f")

  (func (export "rt_i32") (param $at i32) (param $v i32) (result i32)
    local.get $at local.get $v i32.store  local.get $at i32.load)
  (func (export "rt_i64") (param $at i32) (param $v i64) (result i64)
    local.get $at local.get $v i64.store  local.get $at i64.load)
  (func (export "rt_f32") (param $at i32) (param $v f32) (result f32)
    local.get $at local.get $v f32.store  local.get $at f32.load)
  (func (export "rt_f64") (param $at i32) (param $v f64) (result f64)
    local.get $at local.get $v f64.store  local.get $at f64.load)
  ;; Store a word, read it back a byte at a time (little-endian, sign- and zero-extended).
  (func (export "rt_bytes") (param $at i32) (param $v i32) (result i32 i32 i32 i32)
    local.get $at local.get $v i32.store
    local.get $at i32.load8_u
    (i32.load8_s offset=1 (local.get $at))
    (i32.load16_u offset=2 (local.get $at))
    (i32.load16_s offset=2 (local.get $at)))
  ;; Truncating stores: only the low bytes land.
  (func (export "store8_load") (param $at i32) (param $v i32) (result i32)
    local.get $at i32.const 0 i32.store
    local.get $at local.get $v i32.store8
    local.get $at i32.load)
  (func (export "store32_i64") (param $at i32) (param $v i64) (result i64)
    local.get $at local.get $v i64.store32
    local.get $at i64.load32_s)

  (func (export "load_i32") (param i32) (result i32) local.get 0 i32.load)
  (func (export "load_i64") (param i32) (result i64) local.get 0 i64.load)
  (func (export "load8_s") (param i32) (result i32) local.get 0 i32.load8_s)
  (func (export "load_f64") (param i32) (result f64) local.get 0 f64.load)
  (func (export "load_offset") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
  (func (export "store_i32") (param i32 i32) local.get 0 local.get 1 i32.store)

  (func (export "size") (result i32) memory.size)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  ;; Old size (or -1), then the size afterwards.
  (func (export "grow_size") (param i32) (result i32 i32) local.get 0 memory.grow memory.size)
  ;; Grow by one page, then write and read at the given offset inside it.
  (func (export "grow_rt") (param $at i32) (param $v i32) (result i32)
    i32.const 1 memory.grow drop
    local.get $at local.get $v i32.store  local.get $at i32.load)
  (func (export "fill_sum") (param $at i32) (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (memory.fill (local.get $at) (i32.const 7) (local.get $n))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $sum (i32.add (local.get $sum) (i32.load8_u (i32.add (local.get $at) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    local.get $sum)
)
