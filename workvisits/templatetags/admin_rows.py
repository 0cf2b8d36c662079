"""`{% order_result_list cl %}`: the admin's `{% result_list cl %}` with the rows of `admin.rows`."""

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers, result_hidden_fields
from django.contrib.admin.templatetags.base import InclusionAdminNode

from workvisits.admin.rows import result_rows

register = template.Library()


def order_result_list(cl) -> dict:
    """The context of the admin's `result_list`, its rows written by `result_rows`."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": result_rows(cl),
    }


@register.tag(name="order_result_list")
def order_result_list_tag(parser, token):
    # The admin's own node, so a change_list_results.html of the model or app is used as for result_list.
    return InclusionAdminNode(
        parser, token, func=order_result_list, template_name="change_list_results.html", takes_context=False
    )
