#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#define TCP_BUF 65536
#define UDP_IDLE_MS 60000
#define UDP_MAX_FLOWS 256
/* One client (an address) gets a share, not the whole port. */
#define UDP_MAX_FLOWS_PER_CLIENT 32
#define TCP_MAX_CONNS 1024
#define TCP_MAX_CONNS_PER_CLIENT 128
/* Out of descriptors: the listener rests this long instead of spinning
 * on a connection it cannot take. */
#define EMFILE_PAUSE_MS 100

enum ep_kind { EP_TCP_LISTEN, EP_UDP_LISTEN, EP_TCP_SIDE, EP_UDP_FLOW };

struct listener;

/* One epoll registration. */
struct ep {
	enum ep_kind kind;
	int fd;
	struct listener *l;
	struct tcp_conn *conn;	 /* EP_TCP_SIDE */
	int side;		 /* 0: the client, 1: the guest */
	struct sockaddr_in peer; /* EP_UDP_FLOW: the client it answers */
	int64_t last_ms;
	struct ep *next; /* EP_UDP_FLOW: the listener's flows */
};

struct listener {
	struct ep ep;
	struct sockaddr_in guest;
	struct ep *flows;
	size_t n_flows;
	size_t n_conns;
	int64_t resume_ms; /* > 0: out of the epoll set until then */
	struct listener *next;
};

/* buf[d] carries bytes read from side d to side !d. */
struct tcp_conn {
	struct ep side[2];
	char *buf[2];
	size_t len[2], off[2];
	bool eof[2], shut[2];
	bool hup[2];	/* the side hung up: it takes no more bytes */
	bool parked[2]; /* out of the epoll set (a hung-up side waiting for its buffer to drain) */
	bool connecting;
	struct listener *l;
	struct in_addr client;
	struct tcp_conn *next, *prev;
};

struct proxy {
	int epfd;
	struct listener *listeners;
	struct tcp_conn *conns;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ep_watch(struct proxy *p, struct ep *e, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = e };
	epoll_ctl(p->epfd, op, e->fd, &ev);
}

struct proxy *proxy_new(const char *guest_addr, const struct hearth_port *ports, size_t n, struct hearth_error **err)
{
	struct proxy *p = xcalloc(1, sizeof(*p));
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		fail_errno(err, "proxy: epoll: %s", strerror(errno));
		free(p);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct hearth_port *port = &ports[i];
		bool udp = port->protocol == HEARTH_PROTO_UDP;
		const char *host = port->host_addr ? port->host_addr : "127.0.0.1";
		struct listener *l = xcalloc(1, sizeof(*l));
		l->next = p->listeners;
		p->listeners = l;
		l->ep = (struct ep){ .kind = udp ? EP_UDP_LISTEN : EP_TCP_LISTEN, .l = l };
		l->guest = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port->guest) };
		inet_pton(AF_INET, guest_addr, &l->guest.sin_addr);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port->host) };
		inet_pton(AF_INET, host, &sa.sin_addr);
		int one = 1;
		l->ep.fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (l->ep.fd < 0 || setsockopt(l->ep.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(l->ep.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (!udp && listen(l->ep.fd, 128) < 0)) {
			fail_errno(err, "ports: host port %s:%u/%s cannot be bound: %s", host, port->host,
				   udp ? "udp" : "tcp", strerror(errno));
			proxy_free(p);
			return NULL;
		}
		ep_watch(p, &l->ep, EPOLLIN, EPOLL_CTL_ADD);
	}
	return p;
}

int proxy_fd(const struct proxy *p)
{
	return p->epfd;
}

static void conn_close(struct proxy *p, struct tcp_conn *c)
{
	for (int s = 0; s < 2; s++) {
		if (c->side[s].fd >= 0)
			close(c->side[s].fd); /* also leaves the epoll set */
		free(c->buf[s]);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->l->n_conns--;
	free(c);
}

/* Level-triggered interest from the state: read a side while its buffer
 * is empty, write it while the other side's buffer holds bytes. A side
 * that hung up reports EPOLLHUP whatever the mask, so while its bytes
 * wait for the other side it leaves the set, or the loop would spin. */
static void conn_rearm(struct proxy *p, struct tcp_conn *c)
{
	for (int s = 0; s < 2; s++) {
		uint32_t ev = 0;
		if (s == 1 && c->connecting)
			ev = EPOLLOUT;
		else if (!c->connecting) {
			if (!c->eof[s] && c->len[s] == 0)
				ev |= EPOLLIN;
			if (c->len[!s] > 0)
				ev |= EPOLLOUT;
		}
		bool park = c->hup[s] && c->len[s] > 0;
		if (park && !c->parked[s])
			epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->side[s].fd, NULL);
		else if (!park)
			ep_watch(p, &c->side[s], ev, c->parked[s] ? EPOLL_CTL_ADD : EPOLL_CTL_MOD);
		c->parked[s] = park;
	}
}

static size_t conns_of(const struct proxy *p, const struct listener *l, struct in_addr client)
{
	size_t n = 0;
	for (const struct tcp_conn *c = p->conns; c; c = c->next)
		n += c->l == l && c->client.s_addr == client.s_addr;
	return n;
}

static void listener_rest(struct proxy *p, struct listener *l)
{
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, l->ep.fd, NULL);
	l->resume_ms = mono_ms() + EMFILE_PAUSE_MS;
}

static void tcp_accept(struct proxy *p, struct listener *l)
{
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	int cfd = accept4(l->ep.fd, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			listener_rest(p, l);
		return;
	}
	/* Over a limit: closed at once, so the client hears so now. */
	if (l->n_conns >= TCP_MAX_CONNS || conns_of(p, l, from.sin_addr) >= TCP_MAX_CONNS_PER_CLIENT) {
		close(cfd);
		return;
	}
	int gfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (gfd < 0 && (errno == EMFILE || errno == ENFILE))
		listener_rest(p, l);
	if (gfd < 0 || (connect(gfd, (struct sockaddr *)&l->guest, sizeof(l->guest)) < 0 && errno != EINPROGRESS)) {
		close(cfd);
		if (gfd >= 0)
			close(gfd);
		return;
	}
	struct tcp_conn *c = xcalloc(1, sizeof(*c));
	c->connecting = true;
	c->l = l;
	c->client = from.sin_addr;
	l->n_conns++;
	for (int s = 0; s < 2; s++) {
		c->side[s] = (struct ep){ .kind = EP_TCP_SIDE, .fd = s ? gfd : cfd, .conn = c, .side = s };
		c->buf[s] = xmalloc(TCP_BUF);
		ep_watch(p, &c->side[s], 0, EPOLL_CTL_ADD);
	}
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	conn_rearm(p, c);
}

static void tcp_event(struct proxy *p, struct ep *e, uint32_t events)
{
	struct tcp_conn *c = e->conn;
	int s = e->side;
	if (events & EPOLLERR) {
		conn_close(p, c); /* a reset, or the guest refused */
		return;
	}
	if (c->connecting) {
		/* Only the guest side waits for EPOLLOUT; the client side
		 * speaks now only to say it gave up. */
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (s == 0 || getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
			conn_close(p, c);
			return;
		}
		c->connecting = false;
		conn_rearm(p, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP) && c->len[s] == 0 && !c->eof[s]) {
		ssize_t n = read(e->fd, c->buf[s], TCP_BUF);
		if (n > 0) {
			c->len[s] = (size_t)n;
			c->off[s] = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->eof[s] = true;
		}
	}
	if (events & EPOLLHUP)
		c->hup[s] = true;
	/* Flush toward both sides whatever is pending. */
	for (int d = 0; d < 2; d++) {
		while (c->len[d] > 0) {
			ssize_t w = write(c->side[!d].fd, c->buf[d] + c->off[d], c->len[d]);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_close(p, c);
				return;
			}
			c->off[d] += (size_t)w;
			c->len[d] -= (size_t)w;
		}
		if (c->eof[d] && c->len[d] == 0 && !c->shut[d]) {
			shutdown(c->side[!d].fd, SHUT_WR);
			c->shut[d] = true;
		}
	}
	/* Both directions done, or a side that hung up has given all it had
	 * (and can take nothing more): the connection is over. */
	if ((c->shut[0] && c->shut[1]) || (c->hup[s] && c->eof[s] && c->len[s] == 0)) {
		conn_close(p, c);
		return;
	}
	conn_rearm(p, c);
}

static void flow_free(struct proxy *p, struct listener *l, struct ep *f)
{
	(void)p;
	for (struct ep **pp = &l->flows; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	close(f->fd);
	free(f);
	l->n_flows--;
}

/* A datagram from a client: through its flow (a socket connected to the
 * guest, so replies find their way back), made on first sight. */
static void udp_from_client(struct proxy *p, struct listener *l)
{
	char buf[65536];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(l->ep.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	if (n < 0)
		return;
	struct ep *f = l->flows;
	while (f && (f->peer.sin_addr.s_addr != from.sin_addr.s_addr || f->peer.sin_port != from.sin_port))
		f = f->next;
	if (!f) {
		size_t mine = 0;
		for (const struct ep *o = l->flows; o; o = o->next)
			mine += o->peer.sin_addr.s_addr == from.sin_addr.s_addr;
		if (l->n_flows >= UDP_MAX_FLOWS || mine >= UDP_MAX_FLOWS_PER_CLIENT)
			return;
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return;
		if (connect(fd, (struct sockaddr *)&l->guest, sizeof(l->guest)) < 0) {
			close(fd);
			return;
		}
		f = xcalloc(1, sizeof(*f));
		*f = (struct ep){ .kind = EP_UDP_FLOW, .fd = fd, .l = l, .peer = from, .next = l->flows };
		l->flows = f;
		l->n_flows++;
		ep_watch(p, f, EPOLLIN, EPOLL_CTL_ADD);
	}
	f->last_ms = mono_ms();
	if (send(f->fd, buf, (size_t)n, 0) < 0) {
		/* An ICMP unreachable from the guest: drop the datagram. */
	}
}

static void udp_from_guest(struct proxy *p, struct ep *f)
{
	char buf[65536];
	ssize_t n = recv(f->fd, buf, sizeof(buf), 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			flow_free(p, f->l, f);
		return;
	}
	f->last_ms = mono_ms();
	if (sendto(f->l->ep.fd, buf, (size_t)n, 0, (struct sockaddr *)&f->peer, sizeof(f->peer)) < 0) {
		/* The client went away; its flow expires. */
	}
}

static void udp_expire(struct proxy *p)
{
	int64_t now = mono_ms();
	for (struct listener *l = p->listeners; l; l = l->next)
		for (struct ep *f = l->flows, *next; f; f = next) {
			next = f->next;
			if (now - f->last_ms >= UDP_IDLE_MS)
				flow_free(p, l, f);
		}
}

void proxy_dispatch(struct proxy *p)
{
	struct epoll_event evs[64];
	int n = epoll_wait(p->epfd, evs, (int)ARRAY_SIZE(evs), 0);
	for (int i = 0; i < n; i++) {
		struct ep *e = evs[i].data.ptr;
		enum ep_kind kind = e->kind; /* a tcp event may free E */
		switch (kind) {
		case EP_TCP_LISTEN:
			tcp_accept(p, e->l);
			break;
		case EP_UDP_LISTEN:
			udp_from_client(p, e->l);
			break;
		case EP_UDP_FLOW:
			udp_from_guest(p, e);
			break;
		case EP_TCP_SIDE:
			tcp_event(p, e, evs[i].events);
			break;
		}
		/* A tcp event may close its connection and free the other
		 * side's registration, which a later event of this batch can
		 * name: stop here; level-triggered events come again. */
		if (kind == EP_TCP_SIDE)
			break;
	}
	udp_expire(p);
	int64_t now = mono_ms();
	for (struct listener *l = p->listeners; l; l = l->next)
		if (l->resume_ms > 0 && now >= l->resume_ms) {
			l->resume_ms = 0;
			ep_watch(p, &l->ep, EPOLLIN, EPOLL_CTL_ADD);
		}
}

int proxy_timeout_ms(const struct proxy *p)
{
	int64_t now = mono_ms(), next = -1;
	for (const struct listener *l = p->listeners; l; l = l->next) {
		if (l->resume_ms > 0) {
			int64_t left = l->resume_ms - now;
			if (next < 0 || left < next)
				next = left < 0 ? 0 : left;
		}
		for (const struct ep *f = l->flows; f; f = f->next) {
			int64_t left = f->last_ms + UDP_IDLE_MS - now;
			if (next < 0 || left < next)
				next = left < 0 ? 0 : left;
		}
	}
	return (int)next;
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	while (p->conns)
		conn_close(p, p->conns);
	for (struct listener *l = p->listeners, *next; l; l = next) {
		next = l->next;
		while (l->flows)
			flow_free(p, l, l->flows);
		if (l->ep.fd >= 0)
			close(l->ep.fd);
		free(l);
	}
	close(p->epfd);
	free(p);
}
