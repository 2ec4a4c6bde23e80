# 32-bit Arm without hardware floating point in the ABI: Raspberry Pi
# Zero / Zero W / 1 (ARMv6, arm1176) and the older ARMv5TE boards that
# busybox systems run on (NAS boxes, routers). Debian's armhf is ARMv7 and
# does not run there; its armel toolchain targets ARMv5TE, which both run.
# Debian's cross compiler with the armel musl from multiarch
# (musl-dev:armel), used through the specs file that package installs.
CC            := arm-linux-gnueabi-gcc -specs /usr/lib/arm-linux-musleabi/musl-gcc.specs
AR            := arm-linux-gnueabi-ar
STRIP         := arm-linux-gnueabi-strip
BOARD_CFLAGS  := -march=armv5te -marm
BOARD_LDFLAGS :=
SAN_CC        := arm-linux-gnueabi-gcc
# The oldest core the tests emulate is the Pi 1's; tests/run.sh also runs
# the smoke test under SMOKE_CPUS (ARMv5TE, no newer instruction slips in).
RUN           := qemu-arm -cpu arm1176
SMOKE_RUNS    := qemu-arm -cpu arm926
# For the generated example configuration (`make man`): busybox systems
# have syslogd rather than a journal.
BOARD_DESC        := Raspberry Pi Zero/1, ARMv5TE NAS and routers
BOARD_EXAMPLE_SET := log.target=syslog
