# make test runs every test on SQLite, PostgreSQL and S3 (it starts and stops
# what it needs; see scripts/test.sh). make build makes ./bin/sharehub.
.PHONY: test build demo bench clean

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

test:
	bash scripts/test.sh

build:
	CGO_ENABLED=0 go build -ldflags "-X github.com/xiangyang-gov/sharehub/internal/hub.Version=$(VERSION)" -o bin/sharehub ./cmd/sharehub

demo:
	go run ./cmd/sharehub demo

clean:
	rm -rf bin
