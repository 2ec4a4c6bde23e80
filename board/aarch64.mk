# 64-bit Arm (Raspberry Pi 3/4/5 with a 64-bit OS, arm64 servers).
# Debian's cross compiler with the arm64 musl from multiarch
# (musl-dev:arm64), used through the specs file that package installs.
CC            := aarch64-linux-gnu-gcc -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs
AR            := aarch64-linux-gnu-ar
STRIP         := aarch64-linux-gnu-strip
BOARD_CFLAGS  :=
BOARD_LDFLAGS :=
SAN_CC        := aarch64-linux-gnu-gcc
RUN           := qemu-aarch64
# For the generated example configuration (`make man`).
BOARD_DESC        := Raspberry Pi 3/4/5 with a 64-bit OS, arm64 servers
BOARD_EXAMPLE_SET :=
