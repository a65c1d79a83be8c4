;; Never returns: only the engine's cancellation (timeout) or fuel stops it.
(module (func (export "process") (param i32) (result i32) (loop $forever (br $forever)) (i32.const 0)))
