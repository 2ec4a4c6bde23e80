# 32-bit Arm with hardware floating point (Raspberry Pi 2/3/4 with a
# 32-bit OS). Debian's cross compiler with the armhf musl from multiarch
# (musl-dev:armhf). 32-bit long and time_t checks happen here.
CC            := arm-linux-gnueabihf-gcc -specs /usr/lib/arm-linux-musleabihf/musl-gcc.specs
AR            := arm-linux-gnueabihf-ar
STRIP         := arm-linux-gnueabihf-strip
BOARD_CFLAGS  :=
BOARD_LDFLAGS :=
SAN_CC        := arm-linux-gnueabihf-gcc
RUN           := qemu-arm
# For the generated example configuration (`make man`): busybox systems
# have syslogd rather than a journal.
BOARD_DESC        := Raspberry Pi 2/3/4 with a 32-bit OS
BOARD_EXAMPLE_SET := log.target=syslog
