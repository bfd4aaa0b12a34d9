/*
 * rtmpd — intrusive circular doubly-linked list (the Linux/nginx queue idea).
 * A node not on any list points to itself, so removal is always safe.
 */
#ifndef RTMPD_LIST_H
#define RTMPD_LIST_H

#include <stddef.h>

struct rtmpd_list {
    struct rtmpd_list *prev, *next;
};

#define RTMPD_LIST_INIT(name) { &(name), &(name) }

static inline void rtmpd_list_init(struct rtmpd_list *l)
{
    l->prev = l->next = l;
}

static inline int rtmpd_list_empty(const struct rtmpd_list *l)
{
    return l->next == l;
}

static inline void rtmpd_list_insert_tail(struct rtmpd_list *head, struct rtmpd_list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void rtmpd_list_insert_head(struct rtmpd_list *head, struct rtmpd_list *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

static inline void rtmpd_list_remove(struct rtmpd_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define rtmpd_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Iterates safely against removal of the current node. */
#define rtmpd_list_foreach_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
