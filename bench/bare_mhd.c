/* bare_mhd.c — the ceiling of strata's own stack: libmicrohttpd alone.
 *
 *   bare_mhd [--fd FILE] [--threads N] [--pool BYTES]
 *
 * Binds 127.0.0.1 on an ephemeral port, prints "listening on
 * http://127.0.0.1:PORT" on stderr and answers every request with 1 KiB
 * from memory (one shared response object), or with --fd, opens FILE and
 * fstat()s it per request and answers from the fd (sendfile), as a static
 * server without a cache does. Stops on SIGTERM/SIGINT.
 *
 * Daemon flags are the host's (host/server.c): epoll internal thread,
 * thread pool of nproc, suspend/resume allowed, turbo. The response is
 * queued on the handler's SECOND call for a request: queuing on the first
 * makes libmicrohttpd 0.9.75 answer "Connection: close". */
#include <microhttpd.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct MHD_Response *mem_resp;
static const char *fd_file;
static char first_call_marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    if (*con_cls == NULL) {             /* first call: headers only */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size) {                 /* discard a body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (!fd_file)
        return MHD_queue_response(conn, MHD_HTTP_OK, mem_resp);
    int fd = open(fd_file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/html");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cores > 0 ? (unsigned)cores : 1;
    size_t pool = 32 * 1024;            /* MHD's default connection memory limit */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
            fd_file = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc)
            pool = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bare_mhd [--fd FILE] [--threads N] [--pool BYTES]\n");
            return 2;
        }
    }
    static char body[1024];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    body[sizeof body - 1] = '\n';
    mem_resp = MHD_create_response_from_buffer(sizeof body, body, MHD_RESPMEM_PERSISTENT);
    if (!mem_resp)
        return 1;
    MHD_add_response_header(mem_resp, "Content-Type", "text/html");

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("bare_mhd: listen");
        return 1;
    }
    /* MHD's threads inherit the blocked mask; main waits for the signal. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            MHD_USE_TURBO,
        0, NULL, NULL, on_request, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_mhd: MHD_start_daemon failed\n");
        return 1;
    }
    fprintf(stderr, "bare_mhd: %u threads, %s; listening on http://127.0.0.1:%d\n", threads,
            fd_file ? "open+fstat+fd per request" : "1 KiB from memory", ntohs(sa.sin_port));
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(mem_resp);
    close(fd);
    return 0;
}
