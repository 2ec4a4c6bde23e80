# Native x86_64: musl's gcc wrapper (Debian package musl-tools).
CC            := musl-gcc
AR            := ar
STRIP         := strip
BOARD_CFLAGS  :=
BOARD_LDFLAGS :=
# Sanitizer builds use the host compiler and glibc: musl has no ASan runtime.
SAN_CC        := gcc
# Tests run directly.
RUN           :=
# For the generated example configuration (`make man`).
BOARD_DESC        := a PC or VPS (x86_64), usually with systemd
BOARD_EXAMPLE_SET :=
