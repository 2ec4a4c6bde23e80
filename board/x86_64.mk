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
