module graceproof.local/pause

go 1.24
