// Test infrastructure only: waits until a Kafka cluster answers Metadata with the expected
// number of brokers, so `tools/kafka/run` returns only once clients can use the cluster.
//
//   java -cp <kafka classpath> Ready.java <bootstrap> <brokers> <timeout-seconds>
//
// Exits 0 once DescribeCluster lists <brokers> nodes and the cluster has a controller,
// 1 on timeout (printing the last error it saw).

import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;

public class Ready {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int brokers = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        String last = "no answer yet";
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    DescribeClusterResult cluster = admin.describeCluster();
                    int nodes = cluster.nodes().get(5, TimeUnit.SECONDS).size();
                    boolean controller = cluster.controller().get(5, TimeUnit.SECONDS) != null;
                    if (nodes >= brokers && controller) {
                        return;
                    }
                    last = nodes + " of " + brokers + " brokers registered";
                } catch (Exception e) {
                    last = e.toString();
                }
                Thread.sleep(200);
            }
        }
        System.err.println("cluster at " + bootstrap + " not ready: " + last);
        System.exit(1);
    }
}
