module graceproof.local/kindnetd

go 1.24
