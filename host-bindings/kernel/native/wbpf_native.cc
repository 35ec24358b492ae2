// placeholder replaced by the kernel helper
