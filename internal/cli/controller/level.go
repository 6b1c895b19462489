package controller

import "go.uber.org/zap/zapcore"

// zapLevel maps a verbosity (0, 1, 2...) to a zap level (info, debug, ...).
func zapLevel(v int) zapcore.Level { return zapcore.Level(-v) }
