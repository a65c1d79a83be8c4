(module (memory 1) (func (export "process") (param i32) (result i32) (i32.load (i32.const 70000))))
