// Draws the analytics page's charts from the figures the server rendered into #chart-data.
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  function chart(id, option) {
    option.animation = false;
    echarts.init(document.getElementById(id)).setOption(option);
  }
  chart("chart-days", {
    tooltip: { trigger: "axis" },
    legend: { data: ["gross", "net"] },
    xAxis: { type: "category", data: data.days },
    yAxis: { type: "value" },
    series: [
      { name: "gross", type: "line", data: data.gross, itemStyle: { color: "#0f766e" } },
      { name: "net", type: "line", data: data.net, itemStyle: { color: "#b45309" } }
    ]
  });
  chart("chart-channel", {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "70%"], data: data.channel, label: { formatter: "{b}: {c}" } }]
  });
  chart("chart-groups", {
    tooltip: { trigger: "axis" },
    legend: { data: ["LTV", "%"] },
    xAxis: { type: "category", data: data.groups },
    yAxis: [{ type: "value" }, { type: "value", max: 100 }],
    series: [
      { name: "LTV", type: "bar", data: data.ltv, itemStyle: { color: "#0f766e" } },
      { name: "%", type: "line", yAxisIndex: 1, data: data.repurchase }
    ]
  });
  chart("chart-fulfilment", {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "70%"], data: data.fulfilment, label: { formatter: "{b}: {c}" } }]
  });
  chart("chart-stockouts", {
    tooltip: {},
    xAxis: { type: "category", data: data.stores },
    yAxis: { type: "value" },
    series: [{ type: "bar", data: data.stockouts, itemStyle: { color: "#b91c1c" } }]
  });
})();
