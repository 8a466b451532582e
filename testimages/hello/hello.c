/*
 * hello: the program inside ketch's offline "hello-world" test image.
 *
 * It is built without any C library (-nostdlib -static) so that the image
 * holds exactly one small file and runs on any Linux kernel, with no loader
 * or shared objects to provide. The only things it needs from the kernel are
 * two system calls, write(2) and exit_group(2), made with inline assembly for
 * the two architectures we build on.
 *
 * Build: gcc -Os -static -nostdlib -fno-stack-protector -o hello hello.c
 */

static const char message[] =
    "\n"
    "Hello from ketch!\n"
    "\n"
    "You are reading this because the container engine works end to end:\n"
    "\n"
    " 1. the client sent your request to the ketchd daemon over its API;\n"
    " 2. ketchd found the \"hello-world\" image in its local image store\n"
    "    and prepared a root filesystem from its layer;\n"
    " 3. it created a container from that image and started it under an\n"
    "    OCI runtime, in its own namespaces;\n"
    " 4. this small static program ran inside it, and ketchd passed what\n"
    "    it wrote back to your terminal.\n"
    "\n"
    "Something bigger to try next:\n"
    " $ ketch run -it busybox sh\n"
    "\n";

#if defined(__x86_64__)
#define SYS_WRITE 1
#define SYS_EXIT_GROUP 231

static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define SYS_WRITE 64
#define SYS_EXIT_GROUP 94

static long sys3(long nr, long a, long b, long c)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2)
                     : "memory");
    return x0;
}
#else
#error "hello.c supports x86_64 and aarch64 only"
#endif

/* Write the whole buffer to stdout, retrying on short writes. */
static int write_all(const char *buf, long len)
{
    while (len > 0) {
        long n = sys3(SYS_WRITE, 1, (long)buf, len);
        if (n <= 0)
            return 1;
        buf += n;
        len -= n;
    }
    return 0;
}

/* There is no C runtime, so the kernel jumps straight here. */
void _start(void)
{
    int status = write_all(message, (long)sizeof(message) - 1);
    sys3(SYS_EXIT_GROUP, status, 0, 0);
    for (;;) {
    }
}
