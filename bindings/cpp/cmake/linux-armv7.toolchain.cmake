# CMake toolchain file: builds liblkcore_cpp (and its tests) for 32-bit ARM Linux (armhf, glibc)
# with Debian's cross compiler (g++-arm-linux-gnueabihf) on an x86-64 machine. libprotobuf comes
# from Debian's armhf package installed beside the native one (dpkg --add-architecture armhf;
# apt-get install libprotobuf-dev:armhf); protoc runs on the build machine. Use it with the
# armv7 C library of `./build.sh lib linux-armv7`:
#
#   cmake -S bindings/cpp -B build/cpp-armv7 \
#     -DCMAKE_TOOLCHAIN_FILE=$PWD/bindings/cpp/cmake/linux-armv7.toolchain.cmake \
#     -DLKCORE_C_LIBRARY=$PWD/build/linux-armv7/liblkcore.so
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
# Libraries of that architecture in Debian's multiarch folders (/usr/lib/arm-linux-gnueabihf).
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
# The build machine's protoc (the armhf one cannot run here).
find_program(Protobuf_PROTOC_EXECUTABLE protoc REQUIRED)
