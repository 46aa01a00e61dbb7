// Draws the dashboard's charts from the figures the server rendered into #chart-data.
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  function pie(id, items) {
    echarts.init(document.getElementById(id)).setOption({
      tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: ["35%", "70%"], data: items, label: { formatter: "{b}: {c}" } }],
      animation: false
    });
  }
  pie("chart-channel", data.channel);
  pie("chart-mode", data.mode);
  echarts.init(document.getElementById("chart-store")).setOption({
    tooltip: {},
    xAxis: { type: "category", data: data.store.names },
    yAxis: { type: "value" },
    series: [{ type: "bar", data: data.store.values, itemStyle: { color: "#0f766e" } }],
    animation: false
  });
})();
